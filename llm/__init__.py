"""The text side: LLM server client, prompts and the LLM stages of the four papers.

It exchanges artifacts with `engine` through files in the run directory. Its content arrives with
the LLM issue; `engine` never imports this package."""
