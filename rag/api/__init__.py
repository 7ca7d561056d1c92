"""The HTTP API (``python -m rag serve``): OpenAI-compatible chat completions over the
catalogue, search and fiches; and the MCP server (``python -m rag mcp``).

Modules: ``app`` (application, start-up), ``chat`` (chat completions, models),
``routes`` (search, fiches, probes), ``conversation`` (messages -> question + history),
``views`` (what the API and MCP show), ``schemas``, ``auth``, ``errors``, ``context``,
``state``, ``mcp_server``.
"""
