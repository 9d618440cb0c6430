"""Platform core: config, ids, clock, errors, hashing, path safety."""
