"""PyTorch: adapter, ops shared by its recipes, recipes per loss family, reproducer writer."""
