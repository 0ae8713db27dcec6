"""Pod targeting: which pods each node's worker captures, handed to workers as capture scopes."""
