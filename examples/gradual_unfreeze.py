"""Gradual unfreezing: train the new head first, then unfreeze the last stage.

Freezing done right, so FreezeLens stays silent here. Hover `model.layer4`
to see how many of its parameters train at each point of the script.
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import models

NUM_CLASSES = 10
HEAD_LR = 0.01
UNFREEZE_AT = 2

model = models.resnet18(weights=None)  # weights=models.ResNet18_Weights.DEFAULT in real use
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES)

# Freeze the backbone: only the new head trains at first.
for name, param in model.named_parameters():
    if not name.startswith("fc."):
        param.requires_grad = False

# layer4 sits in a group of its own at a lower rate. While it is frozen its
# grads stay None, and SGD skips it.
optimizer = torch.optim.SGD(
    [
        {"params": model.fc.parameters(), "lr": HEAD_LR},
        {"params": model.layer4.parameters(), "lr": HEAD_LR / 10},
    ],
    momentum=0.9,
)
criterion = nn.CrossEntropyLoss()

data = TensorDataset(torch.randn(64, 3, 64, 64), torch.randint(0, NUM_CLASSES, (64,)))
loader = DataLoader(data, batch_size=16, shuffle=True)

for epoch in range(4):
    if epoch == UNFREEZE_AT:
        for p in model.layer4.parameters():
            p.requires_grad = True
    model.train()
    # Frozen BatchNorm layers keep their pretrained running statistics.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not module.weight.requires_grad:
            module.eval()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")
