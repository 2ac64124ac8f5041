"""The `convnet` command line: one module per verb, dispatched by cli.main."""
