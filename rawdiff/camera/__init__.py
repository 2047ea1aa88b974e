"""Camera simulation: Bayer mosaics (bayer), unprocessing + simple ISP (isp), sensor noise and low light (noise),
smartphone-vs-DSLR gap (phone), Real-ESRGAN-style second-order degradation D² (degrade), shift estimation (align).
"""
