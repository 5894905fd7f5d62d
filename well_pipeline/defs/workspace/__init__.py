"""Well's definitions as a function of a workspace: its names (`names.py`), its resources (`resources.py`) and
the factory that builds every definition of one workspace (`factory.py`)."""
