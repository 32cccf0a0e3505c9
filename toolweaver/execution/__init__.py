"""Running tools: tool backends, the plan runner, and the sandbox for LLM-written programs."""
