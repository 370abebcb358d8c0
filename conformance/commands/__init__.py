"""The subcommands of ``python -m conformance``, one module each: ``add`` declares
its arguments, ``command`` runs it. conformance/cli.py only wires them."""
