/* SPDX-License-Identifier: MIT */
/*
 * cloud-init.h - a NoCloud seed that makes any cloud image a grainvm guest
 *
 * Cloud images (Debian, Ubuntu, Fedora, Alpine) carry cloud-init and no
 * grainvm-agent.  cloud-init's NoCloud datasource reads its configuration
 * from a filesystem labelled "cidata" holding two files, meta-data and
 * user-data, on any disk the guest sees.  grainvm writes such a seed per
 * VM: its user-data carries the static grainvm-agent itself (base64, no
 * download), the systemd unit and udev rule that start it, the hostname
 * and the user's SSH public key, and a first-boot script that starts the
 * agent at once, under systemd, OpenRC or neither.  The supervisor's
 * host-driven mounts then give the guest its shares.
 *
 * The seed is a small FAT filesystem (mkfs.vfat and mcopy, no root, no
 * loop device) kept in the cache under the SHA-256 of its two files, so
 * a second `up` of the same VM with the same agent reuses it.  The
 * instance-id is derived from user-data: a new agent is a new instance,
 * so cloud-init installs it again instead of skipping its per-instance
 * modules.
 */
#pragma once

#include <glib.h>

/**
 * GvSeedConfig - what goes into a VM's seed
 * @hostname: the VM's name (a valid VM name is a valid hostname label)
 * @agent: the static grainvm-agent binary's bytes
 * @ssh_key: (nullable): one public key line (ssh-ed25519 AAAA... comment)
 */
typedef struct {
	const char *hostname;
	GBytes *agent;
	const char *ssh_key;
} GvSeedConfig;

/**
 * gv_cloud_init_user_data() - the #cloud-config text for @cfg (pure)
 * @cfg: the seed's contents
 *
 * Return: (transfer full): YAML text.
 */
char *gv_cloud_init_user_data(const GvSeedConfig *cfg);

/**
 * gv_cloud_init_meta_data() - the meta-data text that goes with @user_data (pure)
 * @cfg: the seed's contents
 * @user_data: gv_cloud_init_user_data()'s text
 *
 * Return: (transfer full): YAML text with instance-id and local-hostname.
 */
char *gv_cloud_init_meta_data(const GvSeedConfig *cfg, const char *user_data);

/**
 * gv_cloud_init_ssh_key() - the invoking user's SSH public key, if any
 *
 * The first of ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub that holds
 * one line that looks like a public key (of the user behind sudo when
 * grainvm runs through sudo).
 *
 * Return: (transfer full) (nullable): the key line.
 */
char *gv_cloud_init_ssh_key(void);

/**
 * gv_cloud_init_ssh_key_read() - the public key in @path
 * @path: a file holding one line TYPE KEY [COMMENT]
 * @error: GV_ERROR_INVALID when it holds anything else (control
 *         characters included: the key goes into YAML and the guest)
 *
 * Return: (transfer full) (nullable): the key line.
 */
char *gv_cloud_init_ssh_key_read(const char *path, GError **error);

/**
 * gv_cloud_init_seed() - the seed image for @cfg, made or found in @cache_dir
 * @cfg: the seed's contents
 * @cache_dir: where seeds are kept (created 0700 if missing)
 * @error: GV_IMAGE_ERROR_TOOL when mkfs.vfat or mcopy is missing or fails
 *
 * Return: (transfer full) (nullable): the seed's path (a raw FAT image).
 */
char *gv_cloud_init_seed(const GvSeedConfig *cfg, const char *cache_dir, GError **error);
