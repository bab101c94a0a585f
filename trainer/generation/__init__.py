"""Generation for users: loading a trained generator (restore), sample grids and videos, and the
SavedModel export. Imports the training core only."""
