"""Fine-tune a pretrained ResNet-18 on a 10-class dataset.

The backbone is meant to stay frozen for the first epochs while the new head
trains. Two of the freezing lines below do nothing at all; FreezeLens flags
them and offers the fix.
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import models

NUM_CLASSES = 10

model = models.resnet18(weights=None)  # weights=models.ResNet18_Weights.DEFAULT in real use
model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES)

# Freeze the stem and the first two stages.
model.conv1.requires_grad_(False)
model.bn1.requires_grad_(False)
model.layer1.requires_grad = False
model.layer2.requires_grad = False

# The classifier bias starts frozen too (a typo keeps it trainable).
model.fc.bias.require_grad = False

optimizer = torch.optim.SGD(
    [p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9
)
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
