// D-Bus target.
