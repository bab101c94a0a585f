"""Evaluation: quality metrics (FVD through I3D, FID, the Shape Motion scores), their feature
networks, and the demo's report. Imports the training core and generation, never the other way."""
