"""Minimized programs on which tests/test_fuzz.py found a wrong derivative.

Each failure the fuzzer finds is added here as a fixed program, marked
`xfail(strict=True)` until adcompiler is fixed. The campaigns run so far
(about 1,700 random programs) found none, so the file has no tests yet.
"""
