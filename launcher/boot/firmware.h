/* SPDX-License-Identifier: MIT */
/*
 * firmware.h - which firmware boots a disk: [vm] firmware=auto with a
 * [disk] image and no kernel
 */
#pragma once

#include <glib.h>

#include "boot/spec.h"

/* LBA 0 (MBR), LBA 1 (GPT header), LBA 2-33 (128 entries of 128 bytes). */
#define GV_DISK_HEAD_BYTES (34 * 512)

/**
 * gv_firmware_for_disk_head() - UEFI or BIOS, from a disk's first sectors
 * @head: the disk's first bytes as the guest sees them (untrusted)
 * @len: how many (GV_DISK_HEAD_BYTES, or fewer for a tiny disk)
 * @why: (out) (transfer full): the reason, for the boot line
 *
 * UEFI when the disk has an EFI system partition (GPT type
 * C12A7328-F81F-11D2-BA4B-00A0C93EC93B, or MBR type 0xEF) and no BIOS
 * boot code (the MBR's first 440 bytes are zero): SeaBIOS would find
 * nothing to run there.  A disk with boot code (GRUB's hybrid images boot
 * both ways) or no ESP keeps BIOS.  Only @len bytes are ever read; the
 * GPT's own entry offsets and counts are bounded by them.  Pure.
 *
 * Return: GV_FIRMWARE_UEFI or GV_FIRMWARE_BIOS.
 */
GvFirmware gv_firmware_for_disk_head(const guint8 *head, gsize len, char **why);

/**
 * gv_disk_read_head() - the first GV_DISK_HEAD_BYTES of an image, as the guest sees them
 * @image: a disk image of any format QEMU reads (qcow2 with its backing
 *         chain and compressed clusters, raw)
 * @format: (nullable): its format, as probed by gv_image_info_read()
 * @len: (out): how many bytes were read
 * @error: GV_ERROR_FAILED when qemu-img cannot read it
 *
 * Through `qemu-img dd count=34`: a bounded read that knows every format.
 *
 * Return: (transfer full): the bytes, or NULL.
 */
guint8 *gv_disk_read_head(const char *image, const char *format, gsize *len, GError **error);
