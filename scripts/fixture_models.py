"""The PyTorch models behind the ONNX test fixtures (test/fixtures/onnx/).

Imported by scripts/gen-onnx-fixtures.py, which exports them, and by
test/oracle/train_step.py, which trains them from the exported weights.
"""
import torch
import torch.nn as nn


class TinyCNN(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(torch.flatten(self.features(x), 1)))


class TinyTransformer(nn.Module):
    def __init__(self, vocab=50, d=16, num_classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layer = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.1, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def forward(self, ids):
        return self.head(self.norm(self.layer(self.embed(ids))).mean(1))
