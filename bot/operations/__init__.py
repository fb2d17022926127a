"""What a command or a button does, between the handler that parses it and the formatter that shows it."""
