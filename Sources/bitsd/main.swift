print("bitsd")
