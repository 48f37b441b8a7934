# kplan sample placeholder for hash_phrase.py (not Backend.AI's file)
