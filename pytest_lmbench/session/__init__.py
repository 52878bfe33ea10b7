"""One pytest session: its state, the model lifecycle, a managed server, results and outputs.

Everything here lives in ``config.stash`` for the length of a session.
"""
