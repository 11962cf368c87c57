"""Models of pytorch/examples, the official PyTorch tutorials and d2l.ai, re-created.

Sources (BSD-3-Clause: pytorch/examples, pytorch/tutorials; MIT-0: d2l-ai/d2l-en), read at:
pytorch/examples word_language_model/model.py, time_sequence_prediction/train.py,
mnist_rnn/main.py, snli/model.py; pytorch/tutorials intermediate_source/char_rnn_classification_
tutorial.py, seq2seq_translation_tutorial.py, beginner_source/chatbot_tutorial.py,
beginner_source/nlp/sequence_models_tutorial.py; d2l chapter_recurrent-neural-networks/rnn-concise.
bentrevett/pytorch-seq2seq (MIT, (c) Ben Trevett) "1 - Sequence to Sequence Learning with Neural
Networks": Seq2SeqEncoder and Seq2SeqDecoder, copied as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RNNModel(nn.Module):
    """pytorch/examples word_language_model RNNModel: tokens [time, batch] -> log-probs viewed as
    [time * batch, ntoken], hidden in and out."""

    def __init__(self, rnn_type="LSTM", ntoken=40, ninp=16, nhid=24, nlayers=2, dropout=0.2):
        super().__init__()
        self.ntoken, self.rnn_type, self.nhid, self.nlayers = ntoken, rnn_type, nhid, nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        h = weight.new_zeros(self.nlayers, bsz, self.nhid)
        return (h, h.clone()) if self.rnn_type == "LSTM" else h


class Sequence(nn.Module):
    """pytorch/examples time_sequence_prediction: two LSTMCells stepped in a Python loop."""

    def __init__(self):
        super().__init__()
        self.lstm1, self.lstm2 = nn.LSTMCell(1, 51), nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs, n = [], input.size(0)
        h_t = c_t = h_t2 = c_t2 = torch.zeros(n, 51)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            outputs.append(self.linear(h_t2))
        return torch.cat(outputs, dim=1)


class MnistRNN(nn.Module):
    """pytorch/examples mnist_rnn Net: images [batch, 1, 28, 28] read row by row by an LSTM."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1, self.dropout2 = nn.Dropout2d(0.25), nn.Dropout2d(0.5)
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, input):
        output, _ = self.rnn(input.reshape(-1, 28, 28))
        output = self.dropout1(self.batchnorm(output[:, -1, :]))
        output = self.dropout2(F.relu(self.fc1(output)))
        return F.log_softmax(self.fc2(output), dim=1)


class SNLIEncoder(nn.Module):
    """pytorch/examples snli Encoder: embedded words [time, batch, d] -> the last hidden state(s)."""

    def __init__(self, d_embed=12, d_hidden=16, n_layers=1, birnn=True):
        super().__init__()
        self.birnn, self.n_cells, self.d_hidden = birnn, n_layers * (2 if birnn else 1), d_hidden
        self.rnn = nn.LSTM(d_embed, d_hidden, n_layers, bidirectional=birnn)

    def forward(self, inputs):
        batch_size = inputs.size()[1]
        h0 = c0 = inputs.new_zeros(self.n_cells, batch_size, self.d_hidden)
        outputs, (ht, ct) = self.rnn(inputs, (h0, c0))
        return ht[-1] if not self.birnn else ht[-2:].transpose(0, 1).contiguous().view(batch_size, -1)


class CharRNN(nn.Module):
    """Tutorial "Classifying names with a character-level RNN": one-hot letters [time, 1, 57]."""

    def __init__(self, input_size=57, hidden_size=32, output_size=18):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        return self.softmax(self.h2o(hidden[0]))


class EncoderRNN(nn.Module):
    """Tutorial "Translation with a sequence to sequence network": token ids [batch, time]."""

    def __init__(self, input_size=30, hidden_size=16, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        output, hidden = self.gru(self.dropout(self.embedding(input)))
        return output, hidden


class DecoderRNN(nn.Module):
    """The same tutorial's greedy decoder: nn.GRU called once per step in a Python loop."""

    def __init__(self, hidden_size=16, output_size=30, max_length=10):
        super().__init__()
        self.max_length = max_length
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.zeros(batch_size, 1, dtype=torch.long)
        decoder_hidden, outputs = encoder_hidden, []
        for _ in range(self.max_length):
            output, decoder_hidden = self.gru(F.relu(self.embedding(decoder_input)), decoder_hidden)
            output = self.out(output)
            outputs.append(output)
            decoder_input = output.topk(1)[1].squeeze(-1).detach()
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1), decoder_hidden, None


class ChatbotEncoderRNN(nn.Module):
    """Tutorial "Chatbot": token ids [time, batch], packed by their lengths, a bidirectional GRU whose
    two directions are summed."""

    def __init__(self, hidden_size=16, n_layers=2, vocab=30, dropout=0.0):
        super().__init__()
        self.n_layers, self.hidden_size = n_layers, hidden_size
        self.embedding = nn.Embedding(vocab, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, n_layers, dropout=dropout, bidirectional=True)

    def forward(self, input_seq, input_lengths, hidden=None):
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(input_seq), input_lengths)
        outputs, hidden = self.gru(packed, hidden)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs)
        outputs = outputs[:, :, : self.hidden_size] + outputs[:, :, self.hidden_size :]
        return outputs, hidden


class LuongAttnDecoderRNN(nn.Module):
    """Tutorial "Chatbot": one decoding step, attending over the encoder's outputs (three inputs)."""

    def __init__(self, hidden_size=16, output_size=30, n_layers=2):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, n_layers)
        self.concat = nn.Linear(hidden_size * 2, hidden_size)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, input_step, last_hidden, encoder_outputs):
        rnn_output, hidden = self.gru(self.embedding(input_step), last_hidden)
        attn = F.softmax(torch.sum(rnn_output * encoder_outputs, dim=2).t(), dim=1).unsqueeze(1)
        context = attn.bmm(encoder_outputs.transpose(0, 1)).squeeze(1)
        concat = torch.tanh(self.concat(torch.cat((rnn_output.squeeze(0), context), 1)))
        return F.softmax(self.out(concat), dim=1), hidden


class LSTMTagger(nn.Module):
    """Tutorial "Sequence models and LSTM networks": one unbatched sentence of word ids [time]."""

    def __init__(self, embedding_dim=6, hidden_dim=6, vocab_size=9, tagset_size=3):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)


class D2LRNNModel(nn.Module):
    """d2l.ai RNNModel (concise RNN): token ids [batch, time] one-hot and transposed to time-major,
    any nn.RNN/GRU/LSTM given, the output flattened time-major to [time * batch, vocab]."""

    def __init__(self, rnn_layer=None, vocab_size=28):
        super().__init__()
        self.rnn = rnn_layer if rnn_layer is not None else nn.GRU(vocab_size, 32)
        self.vocab_size, self.num_hiddens = vocab_size, self.rnn.hidden_size
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state


class Seq2SeqEncoder(nn.Module):
    """bentrevett/pytorch-seq2seq Encoder: src [src len, batch] -> its final (hidden, cell)."""

    def __init__(self, input_dim=20, emb_dim=8, hid_dim=16, n_layers=2, dropout=0.0):
        super().__init__()
        self.hid_dim, self.n_layers = hid_dim, n_layers
        self.embedding = nn.Embedding(input_dim, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hid_dim, n_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src):
        embedded = self.dropout(self.embedding(src))
        outputs, (hidden, cell) = self.rnn(embedded)
        return hidden, cell


class Seq2SeqDecoder(nn.Module):
    """bentrevett/pytorch-seq2seq Decoder: one step, input [batch], (hidden, cell) spread over two
    parameters and returned flat: (prediction, hidden, cell)."""

    def __init__(self, output_dim=20, emb_dim=8, hid_dim=16, n_layers=2, dropout=0.0):
        super().__init__()
        self.output_dim, self.hid_dim, self.n_layers = output_dim, hid_dim, n_layers
        self.embedding = nn.Embedding(output_dim, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hid_dim, n_layers, dropout=dropout)
        self.fc_out = nn.Linear(hid_dim, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input, hidden, cell):
        input = input.unsqueeze(0)
        embedded = self.dropout(self.embedding(input))
        output, (hidden, cell) = self.rnn(embedded, (hidden, cell))
        prediction = self.fc_out(output.squeeze(0))
        return prediction, hidden, cell
