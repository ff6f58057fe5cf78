"""Software products declared by éditeurs: what a collectivité chooses « avec éditeur »."""
