"""What every objstore server shares: config, runtime, timestamps, constraints, metadata."""
