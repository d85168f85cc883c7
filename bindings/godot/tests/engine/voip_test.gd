extends Node
## The binding inside a real Godot 4 engine: two VoipChat nodes join one room on a running
## relay, see each other arrive, one talks (a tone played into its capture bus, where a
## microphone would play) and the other hears it through its playback bus; a badly signed
## join fails with -1002 through the signals; video calls in that voice room are refused with
## -1006; both leave. Then the two meet in a video room: Alice pushes camera images, Bob's
## texture, frame and sequence of her video follow, upright and in order, and
## video_members_changed lists her while she publishes.
##
## Run by bindings/godot/test.sh with the relay's address, certificate pin and app secret as
## user arguments:
##     godot --headless --path PROJECT res://tests/engine/voip_test.tscn -- \
##         --server=127.0.0.1:PORT --cert=HEX --app-id=ID --app-secret=SECRET
## Prints one line per check and closes with "godot: N passed, N failed"; exits non-zero when
## anything failed or did not happen in time.

## Longest wait for one expected event (join result, members, audio), in seconds.
const EVENT_TIMEOUT_S := 10.0
## Whole-test watchdog, in seconds: nothing may hang the test command.
const TEST_TIMEOUT_S := 90.0
## The bus the test listens on: Bob's call mix plays here, into an AudioEffectCapture.
const HEARD_BUS := "VoipTestHeard"
## The bus of the player Alice is attached to on Bob's side.
const ALONE_BUS := "VoipTestAlone"
## How long a check of silence listens (and first lets queued audio drain), in seconds: well
## over the playback latency (60 ms) and a talkspurt's pause (300 ms).
const SETTLE_S := 1.0
## Peak of the tone's fundamental; with its harmonics the tone peaks near 0.2 (-14 dBFS).
const TONE_AMPLITUDE := 0.125
## Heard audio counts as sound above this RMS, per frame: silence is 0, the tone while it
## sounds about 0.1.
const HEARD_RMS_MIN := 0.01
## How long Alice's camera runs in the video room, and how often it gives a frame.
const CAMERA_S := 3.0
const CAMERA_FRAME_MS := 66
## The SDK's send size: every picture a member receives has it.
const VIDEO_SIZE := Vector2i(640, 360)

var passed := 0
var failed := 0
var options := {}
## Signals as they arrive, per node name: [signal name, arguments...].
var events := {}


func _ready() -> void:
	options = _user_options()
	for key: String in ["server", "cert", "app-id", "app-secret"]:
		if not options.has(key):
			printerr("voip_test: missing user argument --%s=..." % key)
			get_tree().quit(2)
			return
	get_tree().create_timer(TEST_TIMEOUT_S).timeout.connect(_on_watchdog)
	await _run()
	print("godot: %d passed, %d failed" % [passed, failed])
	get_tree().quit(0 if failed == 0 else 1)


func _run() -> void:
	check(ClassDB.class_exists("VoipChat"), "the extension registered the VoipChat class")
	if not ClassDB.class_exists("VoipChat"):
		return
	var heard := _make_capture_bus(HEARD_BUS)

	var alice := _make_node("Alice", true, false)
	var bob := _make_node("Bob", false, true)
	bob.playback_bus = HEARD_BUS
	add_child(alice)
	add_child(bob)
	var tone := _play_tone_into(alice.capture_bus)

	# The microphone's processing, as a game sets it before joining (all on is the default).
	check(
		alice.set_audio_processing(true, VoipChat.NOISE_SUPPRESSION_HIGH, true),
		"set_audio_processing takes a NOISE_SUPPRESSION_* level"
	)
	var processing: Dictionary = alice.get_audio_processing()
	check(
		processing.get("noise_suppression") == VoipChat.NOISE_SUPPRESSION_HIGH,
		"get_audio_processing reports it: %s" % [processing]
	)

	var group_id := "godot-engine-test-%d" % Time.get_ticks_usec()
	alice.join(_signed("alice", group_id))
	var joined: Dictionary = await alice.join_completed
	check(joined.get("errCode") == 0, "alice joined: %s" % [joined])
	check(joined.get("openIdList") == PackedStringArray(["alice"]), "alice is alone in the room")
	check(alice.get_state() == VoipChat.STATE_JOINED, "alice's state is STATE_JOINED")

	bob.join(_signed("bob", group_id))
	joined = await bob.join_completed
	check(joined.get("errCode") == 0, "bob joined: %s" % [joined])
	var both := PackedStringArray(["alice", "bob"])
	check(_sorted(joined.get("openIdList", [])) == both, "bob's join lists alice and bob")
	check(
		await _until(func() -> bool: return _last_members("Alice") == both),
		"alice's members_changed reports alice and bob"
	)

	# Video in a voice room: a frame is refused at once, a subscription through its signal.
	var small_camera := _camera_image(64, 48)
	check(alice.push_video_frame(small_camera) == -1006, "push_video_frame in a voice room is -1006")
	alice.subscribe_video_members(PackedStringArray(["bob"]))
	var refused_video: Dictionary = await alice.subscribe_video_members_completed
	check(
		refused_video.get("errCode") == -1006,
		"subscribe_video_members in a voice room: %s" % [refused_video]
	)

	# A join whose signature does not match: the error arrives through the signals.
	var mallory := _make_node("Mallory", false, false)
	add_child(mallory)
	var forged := _signed("mallory", group_id)
	forged["signature"] = "0".repeat(64)
	mallory.join(forged)
	var refused: Dictionary = await mallory.join_completed
	check(
		refused.get("errCode") == -1002, "a forged signature is refused with -1002: %s" % [refused]
	)
	check(_has_event("Mallory", "join_failed", -1002), "join_failed carried -1002")
	check(not mallory.is_in_call(), "the refused node is not in a call")

	# Alice talks: Bob hears sound on his playback bus, and sees her speaking.
	check(await _hears(heard), "bob hears alice through his playback bus")
	var received := _received_from(bob.get_stats(), "alice")
	check(received > 0, "bob's stats count %d packets from alice" % received)
	check(
		await _until(func() -> bool: return bob.get_speakers().has("alice")),
		"bob's speakers_changed lists alice"
	)

	# Alice alone, through a player of the game's (as for positional voice): she leaves the
	# mix while attached, and returns to it when detached.
	var alone := _make_capture_bus(ALONE_BUS)
	var player := AudioStreamPlayer.new()
	player.bus = ALONE_BUS
	add_child(player)
	check(bob.attach_member("alice", player), "attach_member takes an AudioStreamPlayer")
	check(await _hears(alone), "alice plays through the attached player")
	await _loudest_over(heard, SETTLE_S)
	var mix_while_attached := await _loudest_over(heard, SETTLE_S)
	check(
		mix_while_attached < HEARD_RMS_MIN,
		"alice is out of the mix while attached (RMS %.4f)" % mix_while_attached
	)
	bob.detach_member("alice")
	check(await _hears(heard), "alice is back in the mix after detach_member")
	tone.stop()

	alice.exit()
	var left: Dictionary = await alice.exit_completed
	check(left.get("errCode") == 0, "alice left: %s" % [left])
	check(
		await _until(func() -> bool: return _last_members("Bob") == PackedStringArray(["bob"])),
		"bob's members_changed reports alice gone"
	)
	bob.exit()
	left = await bob.exit_completed
	check(left.get("errCode") == 0, "bob left: %s" % [left])
	check(bob.get_state() == VoipChat.STATE_LEFT, "bob's state is STATE_LEFT")
	check(alice.push_video_frame(small_camera) == -1005, "push_video_frame outside a call is -1005")

	await _video_room(alice, bob)


## Alice and Bob in a video room: Alice's camera (an RGB8 image the node converts) reaches
## Bob's texture and frames at the SDK's send size, upright, in sequence.
func _video_room(alice: VoipChat, bob: VoipChat) -> void:
	var group_id := "godot-video-test-%d" % Time.get_ticks_usec()
	alice.join(_signed("alice", group_id, "video"))
	var joined: Dictionary = await alice.join_completed
	check(joined.get("errCode") == 0, "alice joined a video room: %s" % [joined])
	bob.join(_signed("bob", group_id, "video"))
	joined = await bob.join_completed
	check(joined.get("errCode") == 0, "bob joined the video room: %s" % [joined])

	check(alice.push_video_frame(Image.new()) == -1001, "an empty image is -1001")
	var too_wide := Image.create(4000, 4, false, Image.FORMAT_RGBA8)
	check(alice.push_video_frame(too_wide) == -1001, "a 4000-pixel-wide image is -1001")

	bob.subscribe_video_members(PackedStringArray(["alice"]))
	var subscribed: Dictionary = await bob.subscribe_video_members_completed
	check(
		subscribed.get("errCode") == 0 and subscribed.get("errMsg") == "subscribeVoIPVideoMembers:ok",
		"bob subscribed to alice's video: %s" % [subscribed]
	)
	var texture: ImageTexture = bob.get_video_texture("alice")
	check(texture == bob.get_video_texture("alice"), "get_video_texture gives one texture per member")
	# Each upload (ImageTexture.update, which Godot refuses with an error for another size or
	# format) emits `changed`. The headless renderer keeps no pixels, so uploads are counted.
	var uploads := [0]
	texture.changed.connect(func() -> void: uploads[0] += 1)
	check(bob.get_video_sequence("alice") == 0, "no picture of alice before she pushes")
	check(bob.get_video_frame("alice") == null, "get_video_frame is null before the first picture")

	# The camera runs at 15 fps while the game renders at up to 60.
	Engine.max_fps = 60
	var camera := _camera_image(320, 240)
	var codes := {}
	var sequences: Array[int] = []
	var next_frame := 0
	var stop := Time.get_ticks_msec() + CAMERA_S * 1000.0
	while Time.get_ticks_msec() < stop:
		if Time.get_ticks_msec() >= next_frame:
			next_frame = Time.get_ticks_msec() + CAMERA_FRAME_MS
			codes[alice.push_video_frame(camera)] = true
		var sequence := bob.get_video_sequence("alice")
		if sequence > 0 and (sequences.is_empty() or sequences[-1] != sequence):
			sequences.append(sequence)
		await get_tree().process_frame
	Engine.max_fps = 0
	check(codes.keys() == [0], "every push_video_frame returned 0: %s" % [codes.keys()])
	check(sequences.size() >= 5, "bob saw %d pictures of alice" % sequences.size())
	var ordered := true
	for i in range(1, sequences.size()):
		ordered = ordered and sequences[i] > sequences[i - 1]
	check(ordered, "their sequence numbers grow: %s" % [sequences])
	check(Vector2i(texture.get_size()) == VIDEO_SIZE, "the texture is %s" % [texture.get_size()])
	var picture: Image = bob.get_video_frame("alice")
	check(
		picture != null and picture.get_size() == VIDEO_SIZE,
		"get_video_frame gives a %s picture" % [picture.get_size() if picture else null]
	)
	if picture:
		var top := picture.get_pixel(320, 60)
		var bottom := picture.get_pixel(320, 300)
		check(
			top.r > 0.6 and top.b < 0.45 and bottom.b > 0.6 and bottom.r < 0.45,
			"alice arrives upright, red over blue: top %s, bottom %s" % [top, bottom]
		)
	var decoded := 0 if sequences.is_empty() else sequences[-1]
	check(
		uploads[0] >= 5 and uploads[0] <= decoded,
		"the texture was uploaded %d times, at most once per new picture (%d)" % [uploads[0], decoded]
	)
	check(_saw_video_member("Bob", "alice"), "bob's video_members_changed listed alice")
	check(
		await _until(func() -> bool: return bob.get_video_members().is_empty()),
		"alice stops publishing about a second after her last frame"
	)
	bob.release_video_texture("alice")

	alice.exit()
	var left: Dictionary = await alice.exit_completed
	check(left.get("errCode") == 0, "alice left the video room: %s" % [left])
	bob.exit()
	left = await bob.exit_completed
	check(left.get("errCode") == 0, "bob left the video room: %s" % [left])


func check(ok: bool, what: String) -> void:
	if ok:
		passed += 1
		print("ok: ", what)
	else:
		failed += 1
		printerr("FAIL: ", what)


func _on_watchdog() -> void:
	printerr("FAIL: the test did not finish within %d s" % TEST_TIMEOUT_S)
	print("godot: %d passed, %d failed" % [passed, failed + 1])
	get_tree().quit(1)


## Waits, frame by frame, until `condition` holds or EVENT_TIMEOUT_S passes.
func _until(condition: Callable) -> bool:
	var deadline := Time.get_ticks_msec() + EVENT_TIMEOUT_S * 1000.0
	while Time.get_ticks_msec() < deadline:
		if condition.call():
			return true
		await get_tree().process_frame
	return condition.call()


func _make_node(node_name: String, microphone: bool, playback: bool) -> VoipChat:
	var node := VoipChat.new()
	node.name = node_name
	node.microphone = microphone
	node.playback = playback
	node.server = options["server"]
	node.server_cert_sha256 = options["cert"]
	node.app_id = options["app-id"]
	events[node_name] = []
	for signal_name: String in [
		"join_failed",
		"members_changed",
		"speakers_changed",
		"video_members_changed",
		"interrupted",
		"state_changed",
	]:
		node.connect(signal_name, _record.bind(node_name, signal_name))
	return node


## Signal handlers get the signal's arguments first, then the bound node and signal names.
func _record(a: Variant, b: Variant = null, c: Variant = null, d: Variant = null) -> void:
	var args := [a, b, c, d].filter(func(x: Variant) -> bool: return x != null)
	var signal_name: String = args.pop_back()
	var node_name: String = args.pop_back()
	events[node_name].append([signal_name] + args)


func _has_event(node_name: String, signal_name: String, first_arg: Variant) -> bool:
	for event: Array in events[node_name]:
		if event[0] == signal_name and event[1] == first_arg:
			return true
	return false


func _saw_video_member(node_name: String, open_id: String) -> bool:
	for event: Array in events[node_name]:
		if event[0] == "video_members_changed" and PackedStringArray(event[1]).has(open_id):
			return true
	return false


func _last_members(node_name: String) -> PackedStringArray:
	var last := PackedStringArray()
	for event: Array in events[node_name]:
		if event[0] == "members_changed":
			last = _sorted(event[1])
	return last


func _sorted(list: Variant) -> PackedStringArray:
	var sorted := PackedStringArray(list)
	sorted.sort()
	return sorted


## `voip_stats_json`'s members are keyed by openId.
func _received_from(stats: Dictionary, open_id: String) -> int:
	var member: Dictionary = stats.get("members", {}).get(open_id, {})
	return int(member.get("packetsReceived", 0))


## A bus with a capture effect the test reads what plays on it from.
func _make_capture_bus(bus_name: String) -> AudioEffectCapture:
	AudioServer.add_bus()
	var bus := AudioServer.get_bus_count() - 1
	AudioServer.set_bus_name(bus, bus_name)
	var capture := AudioEffectCapture.new()
	capture.buffer_length = 0.5
	AudioServer.add_bus_effect(bus, capture)
	return capture


## Whether sound (above HEARD_RMS_MIN) arrives on `capture` within EVENT_TIMEOUT_S.
func _hears(capture: AudioEffectCapture) -> bool:
	capture.clear_buffer()
	return await _until(func() -> bool: return _rms_of(capture) >= HEARD_RMS_MIN)


## The loudest frame on `capture` over the next `seconds`.
func _loudest_over(capture: AudioEffectCapture, seconds: float) -> float:
	capture.clear_buffer()
	var loudest := 0.0
	var deadline := Time.get_ticks_msec() + seconds * 1000.0
	while Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
		loudest = maxf(loudest, _rms_of(capture))
	return loudest


func _rms_of(capture: AudioEffectCapture) -> float:
	var frames := capture.get_buffer(capture.get_frames_available())
	if frames.is_empty():
		return 0.0
	var sum := 0.0
	for frame: Vector2 in frames:
		sum += frame.x * frame.x + frame.y * frame.y
	return sqrt(sum / (2.0 * frames.size()))


## A camera frame: the top half red, the bottom half blue, in RGB8 (so the node converts it).
func _camera_image(width: int, height: int) -> Image:
	var half := int(height * 0.5)
	var image := Image.create(width, height, false, Image.FORMAT_RGB8)
	image.fill_rect(Rect2i(0, 0, width, half), Color(0.9, 0.08, 0.08))
	image.fill_rect(Rect2i(0, half, width, height - half), Color(0.08, 0.08, 0.9))
	return image


## A looping "syllable": 400 ms of a 220 Hz tone with two harmonics, 300 ms of silence, so the
## voice activity detector sees onsets and pauses as in speech.
func _play_tone_into(bus: StringName) -> AudioStreamPlayer:
	var rate := 48000
	var data := PackedByteArray()
	data.resize(int(rate * 0.7) * 2)
	for i in range(int(rate * 0.4)):
		var t := float(i) / rate
		var s := sin(TAU * 220.0 * t) + 0.5 * sin(TAU * 440.0 * t) + 0.25 * sin(TAU * 660.0 * t)
		data.encode_s16(i * 2, int(s * TONE_AMPLITUDE * 32767.0))
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = rate
	wav.stereo = false
	wav.data = data
	wav.loop_mode = AudioStreamWAV.LOOP_FORWARD
	wav.loop_end = int(rate * 0.7)
	var player := AudioStreamPlayer.new()
	player.stream = wav
	player.bus = bus
	add_child(player)
	player.play()
	return player


## Development only: signs a join the way a game backend does (README, "How a game backend
## signs"), so the relay checks real signatures.
func _signed(open_id: String, group_id: String, room_type := "voice") -> Dictionary:
	var app_id: String = options["app-id"]
	var session_key := Marshalls.raw_to_base64(
		_hmac_sha256(options["app-secret"].to_utf8_buffer(), open_id.to_utf8_buffer())
	)
	var nonce_str := "%s-%08x%08x" % [open_id, randi(), randi()]
	var time_stamp := int(Time.get_unix_time_from_system())
	var parts := PackedStringArray([app_id, group_id, nonce_str, str(time_stamp)])
	parts.sort()
	var signature := (
		_hmac_sha256(session_key.to_utf8_buffer(), "".join(parts).to_utf8_buffer()).hex_encode()
	)
	return {
		"appId": app_id,
		"openId": open_id,
		"groupId": group_id,
		"nonceStr": nonce_str,
		"timeStamp": time_stamp,
		"signature": signature,
		"roomType": room_type,
		"muteConfig": {"muteMicrophone": false, "muteEarphone": false},
	}


func _hmac_sha256(key: PackedByteArray, message: PackedByteArray) -> PackedByteArray:
	var hmac := HMACContext.new()
	hmac.start(HashingContext.HASH_SHA256, key)
	hmac.update(message)
	return hmac.finish()


## `--key=value` user arguments (after `--` on Godot's command line).
func _user_options() -> Dictionary:
	var parsed := {}
	for arg: String in OS.get_cmdline_user_args():
		if arg.begins_with("--") and "=" in arg:
			var pair := arg.substr(2).split("=", true, 1)
			parsed[pair[0]] = pair[1]
	return parsed
