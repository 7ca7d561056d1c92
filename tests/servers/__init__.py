"""Real servers for tests, started and stopped by the tests themselves.

``tests.servers.llama``     llama-cpp-python's OpenAI-compatible server over a small GGUF.
``tests.servers.postgres``  a throwaway PostgreSQL cluster (Debian's binaries).

Each module is self-contained (its own ``free_port``) and leaves no process behind.
"""
