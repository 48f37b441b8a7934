# kplan sample placeholder for fantompass.py (not Backend.AI's file)
