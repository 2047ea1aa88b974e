"""Networks: the conditional UNet (unet.py) and the learned ISP (ispnet.py)."""
