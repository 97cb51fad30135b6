"""One thin module per subcommand group; each registers its parsers without importing the
layers below, which its handlers import when they run."""
