"""Fine-tune a pretrained ResNet-18 on 10 classes, and plan what to freeze.

Click "Open Freeze Planner" above the model: check the stages to freeze (or
pick a preset), then generate the code. It replaces the optimizer below with
one that trains only what the plan leaves trainable, the pretrained backbone
at a lower learning rate than the new head, and keeps frozen BatchNorm in
eval mode. Until then, FreezeLens points out the missing learning-rate split.
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import models

NUM_CLASSES = 10

model = models.resnet18(weights="DEFAULT")  # downloads the ImageNet weights on first use
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES)

optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()

data = TensorDataset(torch.randn(64, 3, 64, 64), torch.randint(0, NUM_CLASSES, (64,)))
loader = DataLoader(data, batch_size=16, shuffle=True)

for epoch in range(2):
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")
