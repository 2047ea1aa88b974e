"""rawdiff.data"""
