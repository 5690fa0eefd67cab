"""SchemaGen: the curated schema, its class domain fitted to the class list."""
