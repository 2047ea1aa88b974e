"""DiffRAW (Yi et al., AAAI-24): phone RAW -> DSLR-quality sRGB with the truncated domain-transform diffusion
(DTDM).  data -> train -> sample -> evaluate; develop turns a RAW file into an image; rundir reads run folders."""
