"""rawdiff.diffusion"""
