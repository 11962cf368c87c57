"""edgernn.train: recurrent models (RNN/LSTM/GRU) and BPTT training in PyTorch."""
