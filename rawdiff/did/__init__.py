"""DiD, Diffusion in the Dark (Nguyen et al., WACV-24): multi-scale training, tail normalisation, the ILVR
cascade, the regression baseline, the OCR text benchmark and its engines."""
