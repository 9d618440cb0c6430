"""loopml: the machine-learning lifecycle as one system."""
