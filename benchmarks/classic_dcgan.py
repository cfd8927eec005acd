"""The classic PyTorch DCGAN example training loop, re-implemented from its public
description, as the speed baseline for ganzoo (run by benchmarks/dcgan_speed.py).

64x64 images, batch 64, nz 100, ngf = ndf = 64, a discriminator ending in a sigmoid with
nn.BCELoss, per-image PIL transforms (Resize, ToTensor, Normalize) through a DataLoader
with 2 workers, plain Adam 2e-4 with beta1 0.5, fp32, and the example's update order:
D on real (backward), D on fake.detach() (backward), D step; then G through D, G step.

    python benchmarks/classic_dcgan.py --data-dir ../shared/data --steps 40 --warmup 5
    python benchmarks/classic_dcgan.py --device cuda --batch-size 128 --synthetic 12800 --steps 60 --warmup 10

prints one JSON line with images/s over the timed steps (after the warm-up ones), and the
device and batch it ran with. ``--synthetic N`` replaces MNIST by N random 28x28 uint8
images (PIL, mode L, as torchvision's MNIST hands them to its transform) through the same
per-image transforms and DataLoader, for machines without the dataset (benchmarks/gpu.sh).
``--device cuda`` moves the nets and each batch to the GPU (the example's
``cudnn.benchmark = True`` applies there) and synchronises before each clock reading.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.utils.data
import torchvision.datasets as dset
import torchvision.transforms as transforms

NZ, NGF, NDF, NC, BATCH, SIZE = 100, 64, 64, 1, 64, 64


def weights_init(m: nn.Module) -> None:
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def generator() -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
        nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
        nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())


def discriminator() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


class SyntheticMNIST(torch.utils.data.Dataset):
    """``n`` random 28x28 uint8 digits-shaped images with labels, returned like torchvision's
    MNIST: a PIL image (mode L) through ``transform``, and an int label."""

    def __init__(self, n: int, transform, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen)
        self.labels = torch.randint(0, 10, (n,), generator=gen)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image

        img = Image.fromarray(self.images[index].numpy())  # 2-D uint8 -> mode L, as MNIST's
        return self.transform(img), int(self.labels[index])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", help="folder holding MNIST/raw (torchvision's layout)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="N random MNIST-like images instead of --data-dir")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (the example's 2)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if (args.data_dir is None) == (args.synthetic is None):
        parser.error("give exactly one of --data-dir and --synthetic N")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the example does
    batch = args.batch_size
    torch.manual_seed(args.seed)
    transform = transforms.Compose([
        transforms.Resize(SIZE), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    if args.synthetic is not None:
        dataset = SyntheticMNIST(args.synthetic, transform, seed=args.seed)
    else:
        dataset = dset.MNIST(root=args.data_dir, download=False, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=args.workers)
    if len(loader) < args.warmup + args.steps:
        parser.error(f"{len(dataset)} images make {len(loader)} batches of {batch}, fewer than "
                     f"--warmup + --steps = {args.warmup + args.steps}")
    netG, netD = generator().to(device), discriminator().to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0
    started = None
    for i, data in enumerate(loader):
        if i == args.warmup:
            sync(device)
            started = time.perf_counter()
        if i == args.warmup + args.steps:
            break
        netD.zero_grad()
        real = data[0].to(device)
        b = real.size(0)
        label = torch.full((b,), real_label, dtype=torch.float, device=device)
        output = netD(real).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.randn(b, NZ, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
    sync(device)
    elapsed = time.perf_counter() - started
    print(json.dumps({"images_per_sec": args.steps * batch / elapsed, "steps": args.steps,
                      "seconds": elapsed, "errD": (errD_real + errD_fake).item(), "errG": errG.item(),
                      "device": str(device), "batch": batch}))


if __name__ == "__main__":
    main()
