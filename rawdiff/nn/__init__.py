"""rawdiff.nn"""
