# MAILP theory (Section 3): filled in by the theory work (issue 7).
THEORY_OUTPUTS = []
