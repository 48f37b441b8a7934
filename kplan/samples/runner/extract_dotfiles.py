# kplan sample placeholder for extract_dotfiles.py (not Backend.AI's file)
