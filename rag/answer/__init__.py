"""Answering a question from the passages: the pipeline (``pipeline.ask``), follow-ups
made standalone (``question``), the decision to abstain (``abstention``, ``evidence``,
``details``), prompts and their token budget (``prompting``, ``hyde``), citations and
their support (``citations``, ``support``), the sources shown (``sources``), and the
answer backends (``backends``: extractive, openai, ollama). Imports ``search`` and below."""
