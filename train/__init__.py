"""Training, evaluation, prediction, benchmarks and the report, over the jaxconv package."""
