"""Network code of the built-in models, imported only when a model is built."""
