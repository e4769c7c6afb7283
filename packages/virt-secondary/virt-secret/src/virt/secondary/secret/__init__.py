"""virt's secret driver: secrets kept encrypted at rest with a host key, never logged."""
