"""Benchmarks behind ``resviz bench``; one module each (see ``resviz.commands.bench``)."""
