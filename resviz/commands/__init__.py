"""Subcommands of ``resviz``; each module registers one (see ``resviz.cli``)."""
