"""The Step Functions workflows' logic, one package per workflow."""
