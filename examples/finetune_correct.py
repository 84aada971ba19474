"""The same fine-tune, with freezing done right: FreezeLens stays silent here."""
import torch
import torch.nn as nn
from torchvision import models

NUM_CLASSES = 10


def build_model() -> nn.Module:
    model = models.resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, NUM_CLASSES)
    return model


def freeze_backbone(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        if not name.startswith("fc."):
            param.requires_grad = False


model = build_model()
freeze_backbone(model)
model.fc.weight.requires_grad = True

optimizer = torch.optim.AdamW(
    (p for p in model.parameters() if p.requires_grad), lr=1e-3, weight_decay=0.01
)

x = torch.randn(8, 3, 64, 64)
y = torch.randint(0, NUM_CLASSES, (8,))
model.train()
# The frozen backbone's BatchNorm keeps its pretrained running statistics.
for module in model.modules():
    if isinstance(module, nn.BatchNorm2d) and not module.weight.requires_grad:
        module.eval()
loss = nn.functional.cross_entropy(model(x), y)
loss.backward()
optimizer.step()
optimizer.zero_grad(set_to_none=True)
