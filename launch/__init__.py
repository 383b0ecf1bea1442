"""Entry points (`python -m launch.train`, `python -m launch.evaluate`) and shell launchers."""
