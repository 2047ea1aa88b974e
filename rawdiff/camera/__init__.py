"""rawdiff.camera"""
