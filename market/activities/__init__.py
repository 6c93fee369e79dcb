"""Activities and QR check-in: the earning half of the market."""
